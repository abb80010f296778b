#[ocean::on_resync(kind = "repository")]
async fn repositories(_batches: ocean::Batches) {}

fn main() {}
