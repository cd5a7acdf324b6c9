//! The `oryx` command: parses arguments and hands them to the library; nothing else lives here.

fn main() {
    std::process::exit(oryx::cli::main());
}
