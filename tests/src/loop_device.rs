//! A real block device for tests of the device allowlist, made and removed by the test.

/// A loop device on a 1 MiB file of the test's own that starts with [`LoopDevice::MARKER`],
/// detached on drop (also on failure): a real block device to try the allowlist on.
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub path: String,
    /// `N`: its major is 7.
    pub minor: u32,
    _file: tempfile::NamedTempFile,
}

impl LoopDevice {
    pub const MARKER: &'static str = "BERTH-LOOP";

    pub fn attach() -> LoopDevice {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().expect("backing file");
        file.write_all(Self::MARKER.as_bytes()).expect("marker");
        file.as_file().set_len(1 << 20).expect("size");
        let out = std::process::Command::new("losetup")
            .args(["--find", "--show"])
            .arg(file.path())
            .output()
            .expect("running losetup");
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let minor = path
            .strip_prefix("/dev/loop")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("losetup answered {path:?}"));
        LoopDevice {
            path,
            minor,
            _file: file,
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .arg("-d")
            .arg(&self.path)
            .status();
    }
}
