#[ocean::on_resync(kind = "repository")]
async fn repositories(_ctx: ocean::Context, _resource: ocean::ResourceConfig, _batches: ocean::Batches) {}

fn main() {}
