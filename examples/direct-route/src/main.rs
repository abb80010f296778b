//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=demo-secret cargo run -p example-direct-route`.

// The binary chooses the allocator (see the GitHub example for why mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ocean::Result<()> {
    example_direct_route::integration().run()
}
