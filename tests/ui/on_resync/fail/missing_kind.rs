#[ocean::on_resync]
async fn repositories(_ctx: ocean::Context, _batches: ocean::Batches) {}

fn main() {}
