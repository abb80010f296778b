#[ocean::on_resync(kind = "repository")]
fn repositories(_ctx: ocean::Context, _batches: ocean::Batches) {}

fn main() {}
