//! Logging through defmt when the `defmt` feature is on; compiled away otherwise (the arguments are
//! still evaluated by reference, so no "unused" warnings differ between the two builds).

#[cfg(feature = "defmt")]
macro_rules! debug { ($($t:tt)*) => { defmt::debug!($($t)*) } }
#[cfg(feature = "defmt")]
macro_rules! warning { ($($t:tt)*) => { defmt::warn!($($t)*) } }

#[cfg(not(feature = "defmt"))]
macro_rules! debug { ($fmt:literal $(, $arg:expr)* $(,)?) => {{ $( let _ = &$arg; )* }} }
#[cfg(not(feature = "defmt"))]
macro_rules! warning { ($fmt:literal $(, $arg:expr)* $(,)?) => {{ $( let _ = &$arg; )* }} }

pub(crate) use {debug, warning};
