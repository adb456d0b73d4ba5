//! Shared by the configuration tests: the problems a source has, the one
//! on a line, and variables for the tests that read secrets from the
//! environment.
//!
//! `std::env::set_var` while another thread reads the environment is
//! undefined behaviour with glibc, and the test harness runs tests on many
//! threads; so a test binary does not set variables in its tests but
//! declares them with [`env_before_main!`], which sets them in a
//! constructor that runs before `main`, while the process has one thread.

// Each test binary uses a part of this module.
#![allow(dead_code, unused_imports, unused_macros)]

use keepup_config::{Problems, load_str};
use std::path::Path;

/// Sets each `NAME => value` before `main` (see the module doc).
macro_rules! env_before_main {
    ($($name:expr => $value:expr),* $(,)?) => {
        #[used]
        #[unsafe(link_section = ".init_array")]
        static SET_ENV_BEFORE_MAIN: extern "C" fn() = {
            extern "C" fn set() {
                // SAFETY: constructors run before `main`, on the only
                // thread there is: nothing reads the environment meanwhile.
                unsafe { $(std::env::set_var($name, $value);)* }
            }
            set
        };
    };
}
pub(crate) use env_before_main;

/// The problems `src` has; panics if it loads.
pub fn problems(src: &str) -> Problems {
    match load_str(src, Path::new("keepup.toml")) {
        Ok(_) => panic!("expected problems for:\n{src}"),
        Err(p) => p,
    }
}

/// The single problem of `src`, rendered; panics if there is not exactly
/// one.
pub fn only_problem(src: &str) -> String {
    let p = problems(src);
    assert_eq!(p.0.len(), 1, "{p}");
    p.0[0].to_string()
}

/// The rendering of the problem on `line`; panics if there is none.
pub fn at_line(p: &Problems, line: usize) -> String {
    p.0.iter()
        .find(|x| x.line == line)
        .map(|x| x.to_string())
        .unwrap_or_else(|| panic!("no problem on line {line}; got:\n{p}"))
}

/// The 1-based line of the first line of `src` containing `needle`.
pub fn line_of(src: &str, needle: &str) -> usize {
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the source"))
}
