#[ocean::on_start]
fn hello() -> Result<(), String> {
    Ok(())
}

fn main() {}
