//! Keystone's OS-FEDERATION resources: identity providers (with their remote ids, the issuers they answer for),
//! mappings, protocols, and the federated users a sign-in maps to ("shadow users"). Lintel validates identity
//! providers' tokens itself, so a provider also says what its tokens must look like (audience, lifetime, `jti`).

use sea_orm_migration::prelude::*;

/// Creates the federation tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdentityProvider {
    Table,
    Id,
    Enabled,
    Description,
    DomainId,
    AuthorizationTtl,
    Audience,
    MaxTokenLifetime,
    RequireJti,
    TrustBundle,
}

#[derive(DeriveIden)]
enum IdpRemoteId {
    Table,
    RemoteId,
    IdpId,
}

#[derive(DeriveIden)]
enum FederationMapping {
    Table,
    Id,
    Rules,
    SchemaVersion,
}

#[derive(DeriveIden)]
enum FederationProtocol {
    Table,
    Id,
    IdpId,
    MappingId,
    RemoteIdAttribute,
}

#[derive(DeriveIden)]
enum FederatedUser {
    Table,
    IdpId,
    ProtocolId,
    UniqueId,
    UserId,
    DisplayName,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use IdentityProvider as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(P::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(P::Enabled).boolean().not_null())
                    .col(ColumnDef::new(P::Description).text().null())
                    .col(ColumnDef::new(P::DomainId).string_len(64).not_null())
                    .col(ColumnDef::new(P::AuthorizationTtl).integer().null())
                    .col(ColumnDef::new(P::Audience).string_len(255).null())
                    .col(ColumnDef::new(P::MaxTokenLifetime).integer().null())
                    .col(ColumnDef::new(P::RequireJti).boolean().not_null())
                    .col(ColumnDef::new(P::TrustBundle).text().null())
                    .to_owned(),
            )
            .await?;
        use IdpRemoteId as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .if_not_exists()
                    // A remote id belongs to one provider (Keystone's rule): it is the key.
                    .col(
                        ColumnDef::new(R::RemoteId)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(R::IdpId).string_len(64).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_remote_id_idp")
                            .from(R::Table, R::IdpId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        use FederationMapping as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(M::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(M::Rules).text().not_null())
                    .col(ColumnDef::new(M::SchemaVersion).string_len(5).not_null())
                    .to_owned(),
            )
            .await?;
        use FederationProtocol as F;
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(F::Id).string_len(64).not_null())
                    .col(ColumnDef::new(F::IdpId).string_len(64).not_null())
                    .col(ColumnDef::new(F::MappingId).string_len(64).not_null())
                    .col(ColumnDef::new(F::RemoteIdAttribute).string_len(64).null())
                    .primary_key(Index::create().col(F::IdpId).col(F::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_protocol_idp")
                            .from(F::Table, F::IdpId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        use FederatedUser as U;
        manager
            .create_table(
                Table::create()
                    .table(U::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(U::IdpId).string_len(64).not_null())
                    .col(ColumnDef::new(U::ProtocolId).string_len(64).not_null())
                    .col(ColumnDef::new(U::UniqueId).string_len(255).not_null())
                    .col(ColumnDef::new(U::UserId).string_len(64).not_null())
                    .col(ColumnDef::new(U::DisplayName).string_len(255).null())
                    .primary_key(
                        Index::create()
                            .col(U::IdpId)
                            .col(U::ProtocolId)
                            .col(U::UniqueId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_federated_user_idp")
                            .from(U::Table, U::IdpId)
                            .to(P::Table, P::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_federated_user_user")
                            .from(U::Table, U::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_federated_user_user")
                    .table(U::Table)
                    .col(U::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            FederatedUser::Table.into_iden(),
            FederationProtocol::Table.into_iden(),
            FederationMapping::Table.into_iden(),
            IdpRemoteId::Table.into_iden(),
            IdentityProvider::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
