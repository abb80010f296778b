//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=demo-secret cargo run -p example-macroless`.

fn main() -> ocean::Result<()> {
    example_macroless::integration().run()
}
