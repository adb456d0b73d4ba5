//! Drawing the live view on a terminal: the alternate screen, redrawn in
//! place row by row, the terminal's size, and the ticks that ask for a
//! redraw (the interval, a resize) or an end (`q`, Ctrl-C, SIGTERM, a
//! time limit). [`Screen`] gives the terminal back as it found it when dropped,
//! also when the command fails or panics.

use super::live::Size;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The size assumed when the terminal does not say (and `COLUMNS`/`LINES`
/// do not either).
const FALLBACK: Size = Size {
    width: 80,
    height: 24,
};

/// The terminal, switched to its alternate screen with the cursor hidden
/// and typed keys not echoed (they would land in the middle of the view).
pub struct Screen {
    out: std::io::Stdout,
    /// The terminal settings to restore, when stdin is the terminal.
    saved: Option<libc::termios>,
}

impl Screen {
    /// Switches to the alternate screen.
    pub fn enter() -> std::io::Result<Screen> {
        let saved = echo_off();
        let mut out = std::io::stdout();
        // Alternate screen, cursor hidden, autowrap off (a line that is one
        // cell too wide for the terminal's idea of a character's width is
        // cut rather than pushed onto the next row).
        out.write_all(b"\x1b[?1049h\x1b[?25l\x1b[?7l")?;
        out.flush()?;
        Ok(Screen { out, saved })
    }

    /// Replaces the screen's content with `lines`, row by row from the
    /// top, clearing the rows below: no scrolling and no blank flash
    /// between frames.
    pub fn draw(&mut self, lines: &[String], size: Size) -> std::io::Result<()> {
        let mut frame = String::new();
        for row in 0..size.height.max(lines.len()) {
            frame.push_str(&format!("\x1b[{};1H\x1b[2K", row + 1));
            if let Some(line) = lines.get(row) {
                frame.push_str(line);
            }
        }
        self.out.write_all(frame.as_bytes())?;
        self.out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.out.write_all(b"\x1b[?7h\x1b[?25h\x1b[?1049l");
        let _ = self.out.flush();
        if let Some(saved) = &self.saved {
            // SAFETY: fd 0 and a termios read from it by `echo_off`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, saved) };
        }
    }
}

/// Turns echo and line buffering off on stdin when it is a terminal;
/// returns the settings to restore.
fn echo_off() -> Option<libc::termios> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut settings: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(0, &mut settings) } != 0 {
        return None;
    }
    let saved = settings;
    // Keys arrive one at a time (for `q`), unechoed; Ctrl-C still
    // interrupts.
    settings.c_lflag &= !(libc::ECHO | libc::ICANON);
    settings.c_cc[libc::VMIN] = 1;
    settings.c_cc[libc::VTIME] = 0;
    // SAFETY: fd 0 and a termios read from it above.
    if unsafe { libc::tcsetattr(0, libc::TCSANOW, &settings) } != 0 {
        return None;
    }
    Some(saved)
}

/// The terminal's size now (it changes when the window is resized).
pub fn size() -> Size {
    // SAFETY: TIOCGWINSZ fills a winsize or fails.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let asked = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
    if asked == 0 && ws.ws_col > 0 && ws.ws_row > 0 {
        return Size {
            width: usize::from(ws.ws_col),
            height: usize::from(ws.ws_row),
        };
    }
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    Size {
        width: env("COLUMNS").filter(|&w| w > 0).unwrap_or(FALLBACK.width),
        height: env("LINES").filter(|&h| h > 0).unwrap_or(FALLBACK.height),
    }
}

/// Why the live view wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// The interval passed.
    Interval,
    /// The terminal was resized.
    Resized,
    /// `q`, Ctrl-C, SIGTERM, or the time limit: stop.
    Stop,
}

/// Wakes the view up every `period` and on signals.
pub struct Ticker {
    period: Duration,
    deadline: Option<Instant>,
    interrupt: Signal,
    terminate: Signal,
    resize: Signal,
    /// `q` typed on the terminal (closed when stdin is not one).
    quit: tokio::sync::mpsc::UnboundedReceiver<()>,
}

impl Ticker {
    /// Starts listening for the signals; `run_for` limits the whole run.
    /// Needs a Tokio runtime with signals enabled.
    pub fn new(period: Duration, run_for: Option<Duration>) -> std::io::Result<Ticker> {
        Ok(Ticker {
            period,
            deadline: run_for.map(|d| Instant::now() + d),
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            resize: signal(SignalKind::window_change())?,
            quit: quit_key(),
        })
    }

    /// Waits for the next reason to act.
    pub async fn next(&mut self) -> Tick {
        let remaining = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            return Tick::Stop;
        }
        let wait = remaining.map_or(self.period, |r| r.min(self.period));
        tokio::select! {
            // At the time limit too: the last frame is drawn, and the
            // next call stops.
            _ = tokio::time::sleep(wait) => Tick::Interval,
            _ = self.interrupt.recv() => Tick::Stop,
            _ = self.terminate.recv() => Tick::Stop,
            _ = self.resize.recv() => Tick::Resized,
            Some(()) = self.quit.recv() => Tick::Stop,
        }
    }
}

/// Reports `q` (or `Q`) typed on the terminal. The reading thread blocks
/// in `read` and ends with the process.
fn quit_key() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if std::io::stdin().is_terminal() {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut key = [0u8; 1];
            while let Ok(1) = std::io::stdin().lock().read(&mut key) {
                if key[0].eq_ignore_ascii_case(&b'q') {
                    let _ = tx.send(());
                    return;
                }
            }
        });
    }
    rx
}
