//! Credentials that outlive the people who made them: a user can be a project's service account (no password, owned
//! by the project), each credential records every person who saw its current secret, and a credential whose
//! witness lost access is marked "rotation required".

use sea_orm_migration::prelude::*;

use crate::timestamp;

/// Adds `user.service_project_id`, `application_credential.rotation_required_at` and the witness table.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum User {
    Table,
    ServiceProjectId,
}

#[derive(DeriveIden)]
enum ApplicationCredential {
    Table,
    Id,
    RotationRequiredAt,
}

#[derive(DeriveIden)]
enum ApplicationCredentialWitness {
    Table,
    ApplicationCredentialId,
    UserId,
    SeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(User::Table)
                    .add_column(ColumnDef::new(User::ServiceProjectId).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApplicationCredential::Table)
                    .add_column(
                        timestamp(manager, ApplicationCredential::RotationRequiredAt)
                            .null()
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        use ApplicationCredentialWitness as W;
        manager
            .create_table(
                Table::create()
                    .table(W::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(W::ApplicationCredentialId)
                            .string_len(64)
                            .not_null(),
                    )
                    // No foreign key: a witness is looked up by id after the user is gone.
                    .col(ColumnDef::new(W::UserId).string_len(64).not_null())
                    .col(timestamp(manager, W::SeenAt).not_null())
                    .primary_key(
                        Index::create()
                            .col(W::ApplicationCredentialId)
                            .col(W::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_witness_credential")
                            .from(W::Table, W::ApplicationCredentialId)
                            .to(ApplicationCredential::Table, ApplicationCredential::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_witness_user")
                    .table(W::Table)
                    .col(W::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ApplicationCredentialWitness::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApplicationCredential::Table)
                    .drop_column(ApplicationCredential::RotationRequiredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(User::Table)
                    .drop_column(User::ServiceProjectId)
                    .to_owned(),
            )
            .await
    }
}
