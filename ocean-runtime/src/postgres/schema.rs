//! Versioned migrations, applied at start-up under an advisory lock so that replicas starting at once
//! apply each one exactly once.

use tokio_postgres::Client;

/// A lock id of this schema's migrations (`ocean` in ASCII).
const LOCK: i64 = 0x6f_63_65_61_6e;

/// The migrations, in order; a released one never changes (a change is a new one).
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "
    CREATE TABLE ocean_events (
        seq bigserial PRIMARY KEY,
        group_key text NOT NULL,
        path text NOT NULL,
        record bytea NOT NULL,
        queued_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ocean_events_by_group ON ocean_events (group_key, seq);
    -- One row per entity (group) with events queued: how many, and which replica holds it until when.
    CREATE TABLE ocean_groups (
        group_key text PRIMARY KEY,
        turn bigserial NOT NULL,
        pending integer NOT NULL,
        owner text,
        lease_until timestamptz
    );
    CREATE INDEX ocean_groups_by_turn ON ocean_groups (turn);
    CREATE TABLE ocean_deliveries (
        key text PRIMARY KEY,
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX ocean_deliveries_by_expiry ON ocean_deliveries (expires_at);
    CREATE TABLE ocean_dead_letters (
        id bigserial PRIMARY KEY,
        delivery text,
        superseded_by text,
        letter text NOT NULL
    );
    CREATE INDEX ocean_dead_letters_open ON ocean_dead_letters (delivery) WHERE superseded_by IS NULL;
    -- Documents as text: jsonb would reorder their keys.
    CREATE TABLE ocean_entities (
        blueprint text NOT NULL,
        identifier text NOT NULL,
        doc text NOT NULL,
        PRIMARY KEY (blueprint, identifier)
    );
    ",
    ),
    (
        2,
        // Queued events are written once and read once: pglz (the default) cost more CPU than the WAL it
        // saved; lz4 costs less than both, where the server has it (PostgreSQL 14 and later, built with it).
        "ALTER TABLE ocean_events ALTER COLUMN record SET STORAGE EXTERNAL;
        DO $$ BEGIN
            ALTER TABLE ocean_events ALTER COLUMN record SET COMPRESSION lz4;
            ALTER TABLE ocean_events ALTER COLUMN record SET STORAGE EXTENDED;
        EXCEPTION WHEN OTHERS THEN NULL;
        END $$;",
    ),
];

/// Applies the migrations this database lacks, in one transaction.
pub(super) async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).await?;
    // `IF NOT EXISTS` would otherwise send a notice, logged by the client, on every start but the first.
    txn.batch_execute("SET LOCAL client_min_messages = warning").await?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS ocean_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i32 = txn.query_one("SELECT coalesce(max(version), 0) FROM ocean_migrations", &[]).await?.get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        txn.batch_execute(sql).await?;
        txn.execute("INSERT INTO ocean_migrations (version) VALUES ($1)", &[version]).await?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    txn.commit().await
}
