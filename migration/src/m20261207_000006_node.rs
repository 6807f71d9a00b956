//! The `node` table: one row per running Lintel node, beaten every quarter second by the node's change follower.
//! A node that changes something which takes authority away reads it to bound how long any other node may have
//! served from what it held before (docs/consistency.md). Rows of nodes gone for an hour are pruned.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `node`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Node {
    Table,
    Id,
    Seq,
    Beat,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut beat = ColumnDef::new(Node::Beat);
        if manager.get_database_backend() == DbBackend::MySql {
            beat.custom(Alias::new("DATETIME(6)"));
        } else {
            beat.date_time();
        }
        manager
            .create_table(
                Table::create()
                    .table(Node::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Node::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Node::Seq).big_integer().not_null())
                    .col(beat.not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Node::Table).to_owned())
            .await
    }
}
