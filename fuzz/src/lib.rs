//! Helpers shared by the fuzz targets.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs a future that never waits on I/O (key wrapping with a local key) to completion.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A `HeaderMap` of the pairs that are valid header names and values (others are skipped, as
/// hyper would have refused them before any handler runs).
pub fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    map
}

/// A small deterministic byte generator (xorshift), to grow fuzzer-sized inputs into
/// multi-chunk plaintexts without the fuzzer having to write 64 KiB.
pub fn expand(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
pub mod keys;
