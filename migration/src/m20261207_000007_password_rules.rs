//! What Keystone's `[security_compliance]` password rules need: a user's options, when it last authenticated
//! (`disable_user_account_days_inactive`), when its password was set and whether by the user itself
//! (`minimum_password_age`), and its earlier password hashes (`unique_last_password_count`).

use sea_orm_migration::prelude::*;

use crate::timestamp;

/// Adds the columns to `user` and creates `password_history`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Options,
    LastActiveAt,
    PasswordCreatedAt,
    PasswordSelfService,
}

#[derive(DeriveIden)]
enum PasswordHistory {
    Table,
    Id,
    UserId,
    PasswordHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            ColumnDef::new(User::Options).text().null().to_owned(),
            timestamp(manager, User::LastActiveAt).null().to_owned(),
            timestamp(manager, User::PasswordCreatedAt)
                .null()
                .to_owned(),
            ColumnDef::new(User::PasswordSelfService)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ];
        for mut def in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(User::Table)
                        .add_column(&mut def)
                        .to_owned(),
                )
                .await?;
        }
        // Inactivity counts from when Lintel started keeping the day, not from each user's creation: turning
        // disable_user_account_days_inactive on must not disable every older user at once.
        manager
            .exec_stmt(
                Query::update()
                    .table(User::Table)
                    .value(User::LastActiveAt, Expr::current_timestamp())
                    .and_where(Expr::col(User::LastActiveAt).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasswordHistory::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(PasswordHistory::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PasswordHistory::UserId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PasswordHistory::PasswordHash)
                            .text()
                            .not_null(),
                    )
                    .col(timestamp(manager, PasswordHistory::CreatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_history_user")
                            .from(PasswordHistory::Table, PasswordHistory::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_password_history_user")
                    .table(PasswordHistory::Table)
                    .col(PasswordHistory::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PasswordHistory::Table).to_owned())
            .await?;
        for col in [
            User::Options,
            User::LastActiveAt,
            User::PasswordCreatedAt,
            User::PasswordSelfService,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(User::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
