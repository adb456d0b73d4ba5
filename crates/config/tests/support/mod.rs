//! Shared by the configuration tests that read secrets from the
//! environment.
//!
//! `std::env::set_var` while another thread reads the environment is
//! undefined behaviour with glibc, and the test harness runs tests on many
//! threads; so a test binary does not set variables in its tests but
//! declares them with [`env_before_main!`], which sets them in a
//! constructor that runs before `main`, while the process has one thread.

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
