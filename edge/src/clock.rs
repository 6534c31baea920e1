//! The Worker's clock, in epoch milliseconds (workerd moves it at I/O
//! only). Read with JS `Date.now()`: worker-rs's `Date::now()` builds a JS
//! `Date` object per reading, and a tick reads the clock a few times per
//! shard (`new Date` was about 1 % of a tick in the CPU profile,
//! BENCHMARKS.md "Inside workerd").

pub fn now_ms() -> u64 {
    worker::js_sys::Date::now() as u64
}
