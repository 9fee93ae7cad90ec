//! The book's API status page (`book/src/engine/api-status.md`) is what the router and the
//! `HostConfig` table say today. Regenerate it with `cargo xtask api-status`.

use std::path::Path;
use std::sync::Arc;

use berth::api::{self, Daemon};

#[test]
fn the_api_status_page_is_up_to_date() {
    let dir = berth_tests::test_dir("api-status");
    let root = dir.path().join("store");
    let engine =
        berth::engine::open(&root, env!("CARGO_BIN_EXE_berthd").into()).expect("opening an engine");
    let daemon = Arc::new(Daemon {
        engine,
        registries: Default::default(),
        data_root: dir.path().to_owned(),
        network: berth_network::engine::NetworkExtension::for_store(&root, None),
        userns_remap: None,
    });
    let page = api::status::page(&api::route_table(daemon));
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(api::status::PAGE);
    if std::env::var_os("BERTH_WRITE_API_STATUS").is_some() {
        std::fs::write(&path, &page).expect("writing the page");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == page,
        "{} is stale: run `cargo xtask api-status` and commit the result",
        api::status::PAGE
    );
}
