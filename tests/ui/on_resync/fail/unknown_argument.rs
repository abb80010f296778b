#[ocean::on_resync(kinds = "repository")]
async fn repositories(_ctx: ocean::Context, _batches: ocean::Batches) {}

fn main() {}
