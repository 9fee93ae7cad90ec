//! The `berth-init` program, built by this crate's `build.rs` with `rustc` alone, statically
//! linked: the code is the library's `init_program` module (see there).

#[path = "../src/init_program.rs"]
mod init_program;

fn main() {
    init_program::main()
}
