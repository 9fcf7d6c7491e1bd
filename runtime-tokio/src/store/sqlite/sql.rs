//! Conversions between the store's Rust values and SQLite's signed 64-bit integers. Out-of-range
//! values saturate instead of wrapping (no stored time or count comes near them in practice).

use crate::store::UnixMillis;

pub fn to_sql_ms(t: UnixMillis) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

pub fn from_sql_ms(ms: i64) -> UnixMillis {
    UnixMillis(u64::try_from(ms).unwrap_or(0))
}

pub fn to_sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
