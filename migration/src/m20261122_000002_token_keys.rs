//! The `token_key` table: a key ring shared by every node (`[token] key_store = database`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `token_key`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TokenKey {
    Table,
    Id,
    SealedKey,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut created = ColumnDef::new(TokenKey::CreatedAt);
        if manager.get_database_backend() == DbBackend::MySql {
            created.custom(Alias::new("DATETIME(6)"));
        } else {
            created.date_time();
        }
        manager
            .create_table(
                Table::create()
                    .table(TokenKey::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(TokenKey::Id)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(TokenKey::SealedKey).text().not_null())
                    .col(created.not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenKey::Table).to_owned())
            .await
    }
}
