//! `berth`, the Berth client: Docker's verbs over the Docker Engine API. See
//! [`berth::client`].

fn main() -> std::process::ExitCode {
    berth::client::main()
}
