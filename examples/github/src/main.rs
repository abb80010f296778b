//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=demo-secret cargo run --release -p example-github`.

fn main() -> ocean::Result<()> {
    example_github::integration().run()
}
