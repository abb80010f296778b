#[ocean::on_resync(kind = "", name = "repositories")]
async fn repositories(_ctx: ocean::Context, _batches: ocean::Batches) {}

fn main() {}
