//! Standard output for every command. `print!` and `println!` in this
//! crate are the macros below, not std's (they shadow them by being
//! declared first in `main.rs`), so that a reader that stops early
//! (`keepup actions | head`, a pager quit) ends the command quietly
//! instead of std's panic "failed printing to stdout: Broken pipe".
//!
//! Why not SIGPIPE's default action (what a C program gets): the signal
//! would kill keepup on a write to *any* closed pipe or socket, not only
//! stdout: the daemon writing to a client that hung up, a backup streaming
//! into an `ssh` that died, an action's child closing its stdin. Rust
//! ignores SIGPIPE so that those are errors the code handles; that stays,
//! and only stdout's broken pipe means "stop here".

use std::io::{self, Write};

/// `print!` through [`print`].
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!($($arg)*))
    };
}

/// `println!` through [`line`].
macro_rules! println {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Writes `args` to stdout.
pub fn print(args: std::fmt::Arguments<'_>) {
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        gone(e)
    }
}

/// Writes `args` and a newline to stdout.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        gone(e)
    }
}

/// Stdout as a writer with the same rule, for libraries that take one
/// (shell completions, the manual page).
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stdout().write(buf).or_else(|e| gone(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush().or_else(|e| gone(e))
    }
}

/// Ends the command: quietly (exit 0, as ripgrep does) when the reader
/// went away, else saying why (exit 2, as any other failed command).
fn gone(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("keepup: cannot write to standard output: {e}");
    std::process::exit(2)
}
