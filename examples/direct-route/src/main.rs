//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=demo-secret cargo run -p example-direct-route`.

fn main() -> ocean::Result<()> {
    example_direct_route::integration().run()
}
