//! Rotation without a new id and usage you can see: a credential keeps its previous secret until a retirement
//! time after a rotation, and when each secret was last used (from where, on which node), written behind the token
//! path at most once a minute per credential.

use sea_orm_migration::prelude::*;

use crate::timestamp;

/// Adds the columns to `application_credential`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApplicationCredential {
    Table,
    PriorSecretHash,
    PriorSecretRetiresAt,
    RotatedAt,
    LastUsedAt,
    LastUsedFrom,
    LastUsedNode,
    PriorLastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ApplicationCredential as C;
        let columns = [
            ColumnDef::new(C::PriorSecretHash).text().null().to_owned(),
            timestamp(manager, C::PriorSecretRetiresAt)
                .null()
                .to_owned(),
            timestamp(manager, C::RotatedAt).null().to_owned(),
            timestamp(manager, C::LastUsedAt).null().to_owned(),
            ColumnDef::new(C::LastUsedFrom)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(C::LastUsedNode)
                .string_len(64)
                .null()
                .to_owned(),
            timestamp(manager, C::PriorLastUsedAt).null().to_owned(),
        ];
        crate::add_columns(manager, C::Table, columns).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ApplicationCredential as C;
        crate::drop_columns(
            manager,
            C::Table,
            [
                C::PriorSecretHash,
                C::PriorSecretRetiresAt,
                C::RotatedAt,
                C::LastUsedAt,
                C::LastUsedFrom,
                C::LastUsedNode,
                C::PriorLastUsedAt,
            ],
        )
        .await
    }
}
