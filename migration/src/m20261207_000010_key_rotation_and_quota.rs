//! A rotation rolls a credential's `private_key_jwt` keys over too (the previous key set verifies assertions for
//! the same grace window as the previous secret), and a credential may carry its own issuance rate (an override
//! of `[oauth2] credential_issue_rate`).

use sea_orm_migration::prelude::*;

/// Adds the columns to `application_credential`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApplicationCredential {
    Table,
    PriorJwks,
    IssueRate,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ApplicationCredential as C;
        let columns = [
            ColumnDef::new(C::PriorJwks).text().null().to_owned(),
            ColumnDef::new(C::IssueRate).integer().null().to_owned(),
        ];
        crate::add_columns(manager, C::Table, columns).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ApplicationCredential as C;
        crate::drop_columns(manager, C::Table, [C::PriorJwks, C::IssueRate]).await
    }
}
