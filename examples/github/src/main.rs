//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=demo-secret cargo run --release -p example-github`.
//!
//! The binary chooses the allocator, the library does not: an event becomes thousands of small JSON and
//! jq values that live for a few hundred microseconds, and glibc's malloc spent half of the worker's time
//! on them. mimalloc commits its arenas eagerly on Linux, which put an idle integration at twice the
//! resident memory of the system allocator; they are committed on demand here, unless the operator sets
//! `MIMALLOC_ARENA_EAGER_COMMIT` (every other `MIMALLOC_*` variable works as mimalloc documents).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ocean::Result<()> {
    example_github::integration().run()
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod lazy_commit {
    use std::ffi::{c_char, c_int, c_long};

    /// `mi_option_arena_eager_commit`: the same index in mimalloc v2 and v3, whose option numbers are stable.
    const ARENA_EAGER_COMMIT: c_int = 4;

    unsafe extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
        fn getenv(name: *const c_char) -> *const c_char;
    }

    /// Runs before `main`, before the first allocation creates an arena; allocates nothing itself.
    extern "C" fn set() {
        // SAFETY: `getenv` reads a NUL-terminated name; `mi_option_set` takes any option in range and
        // only stores the value. No other thread exists yet.
        unsafe {
            if getenv(c"MIMALLOC_ARENA_EAGER_COMMIT".as_ptr()).is_null() {
                mi_option_set(ARENA_EAGER_COMMIT, 0);
            }
        }
    }

    #[used]
    #[unsafe(link_section = ".init_array")]
    static SET: extern "C" fn() = set;
}
