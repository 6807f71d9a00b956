//! `user_credential_serial`: one row per user with credentials under `[application_credential] user_limit`, whose
//! counter every credential created under the limit increments. The limit's count is a locking read, and a locking
//! read holds on one database server only: two creates for one user on two Galera nodes would both see room for
//! one more. Both also write this row, and Galera's certification lets only one of two concurrent writes of a row
//! commit; the other is rolled back and run again, and then sees the first one's credential.

use sea_orm_migration::prelude::*;

/// Creates `user_credential_serial`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserCredentialSerial {
    Table,
    UserId,
    Serial,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use UserCredentialSerial as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(S::UserId)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(S::Serial).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_credential_serial_user")
                            .from(S::Table, S::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserCredentialSerial::Table).to_owned())
            .await
    }
}
