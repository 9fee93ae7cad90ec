//! A local registry holding busybox: where every test's images come from.
//!
//! No test reaches the internet. The reference registry (`docker-registry`) runs on a free
//! loopback port and skopeo copies the busybox fixture into it as `library/busybox:latest`,
//! the name Docker Hub gives it. A daemon can then pull it two ways, both real:
//!
//! - by its full name, [`BusyboxRegistry::image`] (`127.0.0.1:PORT/library/busybox:latest`):
//!   loopback registries are spoken to over plain HTTP without any configuration;
//! - as plain `busybox`, when the daemon was started with `--registry-mirror` pointing here
//!   ([`crate::support::DaemonBuilder::mirror`]): Docker Hub's mirror serves Hub's names.

use berth_tests::registry::{Registry, images_dir};

/// The repository busybox is seeded under: Docker Hub's name for official images.
pub const REPOSITORY: &str = "library/busybox";

/// A running registry seeded with busybox; stopped and removed when dropped.
pub struct BusyboxRegistry {
    registry: Registry,
}

impl BusyboxRegistry {
    /// Starts an anonymous registry and pushes `busybox:latest` into it with skopeo.
    pub fn start() -> BusyboxRegistry {
        let registry = Registry::anonymous();
        registry.seed(
            &images_dir().join("busybox-oci"),
            "busybox:latest",
            &format!("{REPOSITORY}:latest"),
        );
        BusyboxRegistry { registry }
    }

    /// `127.0.0.1:PORT/library/busybox:latest`.
    pub fn image(&self) -> String {
        format!("{}/{REPOSITORY}:latest", self.registry.host())
    }

    /// `127.0.0.1:PORT`: for references to other repositories of this registry (pushes).
    pub fn host(&self) -> String {
        self.registry.host()
    }

    /// `http://127.0.0.1:PORT`: the `--registry-mirror` URL.
    pub fn url(&self) -> String {
        self.registry.url()
    }

    /// The registry itself: its log, its manifests, skopeo against it.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
