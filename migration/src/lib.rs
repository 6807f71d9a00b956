//! Database migrations for the Lintel identity schema.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_identity;
mod m20261122_000002_token_keys;
mod m20261201_000003_client_bindings;
mod m20261201_000004_client_assertion_jti;
mod m20261207_000005_view_change;
mod m20261207_000006_node;
mod m20261207_000007_password_rules;
mod m20261207_000008_rotation_and_use;
mod m20261207_000009_service_accounts;
mod m20261207_000010_key_rotation_and_quota;
mod m20261207_000011_federation;
mod m20261207_000012_credential_serial;

/// Runs every Lintel schema migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_identity::Migration),
            Box::new(m20261122_000002_token_keys::Migration),
            Box::new(m20261201_000003_client_bindings::Migration),
            Box::new(m20261201_000004_client_assertion_jti::Migration),
            Box::new(m20261207_000005_view_change::Migration),
            Box::new(m20261207_000006_node::Migration),
            Box::new(m20261207_000007_password_rules::Migration),
            Box::new(m20261207_000008_rotation_and_use::Migration),
            Box::new(m20261207_000009_service_accounts::Migration),
            Box::new(m20261207_000010_key_rotation_and_quota::Migration),
            Box::new(m20261207_000011_federation::Migration),
            Box::new(m20261207_000012_credential_serial::Migration),
        ]
    }
}

/// A timestamp column with microseconds on every backend (MariaDB's DATETIME keeps whole seconds otherwise).
pub(crate) fn timestamp(
    manager: &sea_orm_migration::SchemaManager,
    col: impl sea_orm_migration::prelude::IntoIden,
) -> sea_orm_migration::prelude::ColumnDef {
    use sea_orm_migration::prelude::{Alias, ColumnDef};
    let mut def = ColumnDef::new(col);
    if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::MySql {
        def.custom(Alias::new("DATETIME(6)"));
    } else {
        def.date_time();
    }
    def
}

/// Add columns to a table, one statement each (SQLite's ALTER TABLE adds one at a time).
pub(crate) async fn add_columns(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for mut def in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(&mut def)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drop columns from a table, one statement each.
pub(crate) async fn drop_columns<C: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for col in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
