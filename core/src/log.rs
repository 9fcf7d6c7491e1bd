//! One logging facade for the whole core.
//!
//! With the `defmt` feature the macros forward to `defmt` (devices), with `log` they forward to the `log`
//! crate (hosts), with neither they compile to nothing but still type-check their arguments. Format
//! strings must therefore stay in the common subset of both syntaxes: plain `{}` and `{:?}` placeholders. (`warning!` is named so to avoid the built-in `warn` attribute.)
#![allow(unused_macros)]

macro_rules! log_at {
    ($defmt:ident, $log:ident, $($arg:tt)+) => {{
        #[cfg(feature = "defmt")]
        { ::defmt::$defmt!($($arg)+); }
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        { ::log::$log!($($arg)+); }
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        { let _ = || { let _ = ($($arg)+); }; }
    }};
}

macro_rules! trace { ($($arg:tt)+) => { $crate::log::log_at!(trace, trace, $($arg)+) }; }
macro_rules! debug { ($($arg:tt)+) => { $crate::log::log_at!(debug, debug, $($arg)+) }; }
macro_rules! info { ($($arg:tt)+) => { $crate::log::log_at!(info, info, $($arg)+) }; }
macro_rules! warning { ($($arg:tt)+) => { $crate::log::log_at!(warn, warn, $($arg)+) }; }
macro_rules! error { ($($arg:tt)+) => { $crate::log::log_at!(error, error, $($arg)+) }; }

#[allow(unused_imports)]
pub(crate) use {debug, error, info, log_at, trace, warning};
