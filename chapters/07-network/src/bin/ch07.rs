//! `ch07`: chapter 7's demonstration (to be written on branch net-core).

fn main() {
    eprintln!("ch07: not written yet");
    std::process::exit(2);
}
