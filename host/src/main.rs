//! The `kiln` command line.

mod cli;

fn main() -> std::process::ExitCode {
    quiet_on_closed_pipe();
    cli::main()
}

/// `kiln … | head` closes the pipe before kiln is done: Rust ignores SIGPIPE, so the next
/// `println!` fails with EPIPE and panics with a backtrace. The reader has what it wanted, so
/// end quietly with success instead. Matching std's panic message is the only hook std gives
/// for `print!` failures; anything else goes to the default hook unchanged.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        let printing = message.starts_with("failed printing to stdout")
            || message.starts_with("failed printing to stderr");
        // std formats the io::Error: "Broken pipe (os error 32)" for EPIPE on Unix.
        if printing && (message.contains("Broken pipe") || message.contains("os error 32")) {
            std::process::exit(0);
        }
        default(info);
    }));
}
