//! Project automation. Run `cargo xtask help`.

fn main() {
    eprintln!("usage: cargo xtask <ci|demo|emulator>");
    std::process::exit(2);
}
