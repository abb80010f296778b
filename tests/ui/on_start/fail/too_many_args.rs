#[ocean::on_start]
async fn hello(_a: ocean::Context, _b: u32) -> Result<(), String> {
    Ok(())
}

fn main() {}
