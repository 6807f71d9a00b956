//! The `view_change` table: what a node changed that other nodes hold in memory (a user, a project, a role, the
//! catalog, ...), so that each drops its copy within one poll. Rows are notices, not history: they are pruned
//! after an hour.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `view_change`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ViewChange {
    Table,
    Id,
    Kind,
    ItemId,
    ChangedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut changed = ColumnDef::new(ViewChange::ChangedAt);
        if manager.get_database_backend() == DbBackend::MySql {
            changed.custom(Alias::new("DATETIME(6)"));
        } else {
            changed.date_time();
        }
        manager
            .create_table(
                Table::create()
                    .table(ViewChange::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ViewChange::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ViewChange::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(ViewChange::ItemId).string_len(64).null())
                    .col(changed.not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_view_change_changed_at")
                    .table(ViewChange::Table)
                    .col(ViewChange::ChangedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ViewChange::Table).to_owned())
            .await
    }
}
