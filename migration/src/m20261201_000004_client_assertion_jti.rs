//! The `client_assertion_jti` table: accepted `private_key_jwt` assertions, so a `jti` is accepted once by any
//! node (RFC 7523 §3, item 7).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `client_assertion_jti`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClientAssertionJti {
    Table,
    Id,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut expires = ColumnDef::new(ClientAssertionJti::ExpiresAt);
        if manager.get_database_backend() == DbBackend::MySql {
            expires.custom(Alias::new("DATETIME(6)"));
        } else {
            expires.date_time();
        }
        manager
            .create_table(
                Table::create()
                    .table(ClientAssertionJti::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ClientAssertionJti::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(expires.not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_client_assertion_jti_expires_at")
                    .table(ClientAssertionJti::Table)
                    .col(ClientAssertionJti::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClientAssertionJti::Table).to_owned())
            .await
    }
}
