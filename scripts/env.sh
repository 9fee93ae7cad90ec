# Sourced by the other scripts: find the Rust toolchain also under sudo, which resets PATH and
# HOME, so `sudo ./scripts/test` works for a user whose rustup lives in their own home.
for home in "${HOME:-/root}" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
    [[ -n $home && -d $home/.cargo/bin ]] && PATH="$PATH:$home/.cargo/bin"
    if [[ -z ${RUSTUP_HOME:-} && -d $home/.rustup ]]; then
        export RUSTUP_HOME=$home/.rustup
    fi
done
export PATH
if ! command -v cargo >/dev/null; then
    echo "$(basename "$0"): cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
fi
if [[ $EUID -ne 0 ]]; then
    echo "$(basename "$0"): run me as root (sudo): containers need namespaces, mounts and cgroups" >&2
    exit 1
fi
