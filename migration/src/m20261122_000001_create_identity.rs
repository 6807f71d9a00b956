//! Initial migration: creates the complete identity schema.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates every identity table, foreign key and index.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Length of id and foreign-key columns (32-char hex uuids in practice).
const ID_LEN: u32 = 64;
/// Length of name columns.
const NAME_LEN: u32 = 255;

/// Timestamp column keeping microseconds on every backend (`DATETIME(6)` on MySQL).
fn timestamp_col<T: IntoIden>(backend: DbBackend, iden: T) -> ColumnDef {
    let mut col = ColumnDef::new(iden);
    if backend == DbBackend::MySql {
        col.custom(Alias::new("DATETIME(6)"));
    } else {
        col.date_time();
    }
    col
}

/// `varchar(64)` primary-key id column.
fn id_col<T: IntoIden>(iden: T) -> ColumnDef {
    ColumnDef::new(iden)
        .string_len(ID_LEN)
        .not_null()
        .primary_key()
        .take()
}

/// `varchar(64) NOT NULL` reference column (foreign key or polymorphic id).
fn ref_col<T: IntoIden>(iden: T) -> ColumnDef {
    ColumnDef::new(iden).string_len(ID_LEN).not_null().take()
}

/// `varchar(64) NULL` optional reference column.
fn opt_ref_col<T: IntoIden>(iden: T) -> ColumnDef {
    ColumnDef::new(iden).string_len(ID_LEN).null().take()
}

/// `varchar(255) NOT NULL` name column.
fn name_col<T: IntoIden>(iden: T) -> ColumnDef {
    ColumnDef::new(iden).string_len(NAME_LEN).not_null().take()
}

/// `text NULL` description column.
fn description_col<T: IntoIden>(iden: T) -> ColumnDef {
    ColumnDef::new(iden).text().null().take()
}

/// `boolean NOT NULL DEFAULT TRUE` flag column.
fn enabled_col<T: IntoIden>(iden: T) -> ColumnDef {
    ColumnDef::new(iden)
        .boolean()
        .not_null()
        .default(true)
        .take()
}

/// `text NOT NULL DEFAULT '{}'` JSON object column (MySQL needs an expression default on `TEXT`).
fn json_object_col<T: IntoIden>(backend: DbBackend, iden: T) -> ColumnDef {
    let mut col = ColumnDef::new(iden);
    col.text().not_null();
    if backend == DbBackend::MySql {
        col.default(Expr::cust("('{}')"));
    } else {
        col.default("{}");
    }
    col
}

/// Named foreign key with `ON DELETE CASCADE`.
fn fk_cascade<FT, FC, TT, TC>(name: &str, from: (FT, FC), to: (TT, TC)) -> ForeignKeyCreateStatement
where
    FT: IntoTableRef,
    FC: IntoIden,
    TT: IntoTableRef,
    TC: IntoIden,
{
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// Named non-unique index on the given columns.
fn index<T, C, I>(name: &str, table: T, cols: I) -> IndexCreateStatement
where
    T: IntoTableRef,
    C: IntoIden,
    I: IntoIterator<Item = C>,
{
    let mut idx = Index::create();
    idx.name(name).table(table);
    for col in cols {
        idx.col(col);
    }
    idx
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(Domain::Table)
                    .col(id_col(Domain::Id))
                    .col(name_col(Domain::Name).unique_key())
                    .col(description_col(Domain::Description))
                    .col(enabled_col(Domain::Enabled))
                    .col(timestamp_col(backend, Domain::CreatedAt).not_null())
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Project::Table)
                    .col(id_col(Project::Id))
                    .col(name_col(Project::Name))
                    .col(ref_col(Project::DomainId))
                    .col(opt_ref_col(Project::ParentId))
                    .col(description_col(Project::Description))
                    .col(ColumnDef::new(Project::Enabled).boolean().not_null())
                    .col(timestamp_col(backend, Project::CreatedAt).not_null())
                    .foreign_key(&mut fk_cascade(
                        "fk_project_domain",
                        (Project::Table, Project::DomainId),
                        (Domain::Table, Domain::Id),
                    ))
                    .foreign_key(&mut fk_cascade(
                        "fk_project_parent",
                        (Project::Table, Project::ParentId),
                        (Project::Table, Project::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_project_domain_name",
                    Project::Table,
                    [Project::DomainId, Project::Name],
                )
                .unique()
                .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProjectTag::Table)
                    .col(ref_col(ProjectTag::ProjectId))
                    .col(name_col(ProjectTag::Name))
                    .primary_key(
                        Index::create()
                            .col(ProjectTag::ProjectId)
                            .col(ProjectTag::Name),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_project_tag_project",
                        (ProjectTag::Table, ProjectTag::ProjectId),
                        (Project::Table, Project::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(User::Table)
                    .col(id_col(User::Id))
                    .col(name_col(User::Name))
                    .col(ref_col(User::DomainId))
                    .col(ColumnDef::new(User::Enabled).boolean().not_null())
                    .col(ColumnDef::new(User::PasswordHash).text().null())
                    .col(opt_ref_col(User::DefaultProjectId))
                    .col(json_object_col(backend, User::Extra))
                    .col(timestamp_col(backend, User::PasswordExpiresAt).null())
                    .col(
                        ColumnDef::new(User::FailedAuthCount)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp_col(backend, User::LastFailedAuthAt).null())
                    .col(timestamp_col(backend, User::CreatedAt).not_null())
                    .foreign_key(&mut fk_cascade(
                        "fk_user_domain",
                        (User::Table, User::DomainId),
                        (Domain::Table, Domain::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_user_domain_name",
                    User::Table,
                    [User::DomainId, User::Name],
                )
                .unique()
                .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityGroup::Table)
                    .col(id_col(IdentityGroup::Id))
                    .col(name_col(IdentityGroup::Name))
                    .col(ref_col(IdentityGroup::DomainId))
                    .col(description_col(IdentityGroup::Description))
                    .col(timestamp_col(backend, IdentityGroup::CreatedAt).not_null())
                    .foreign_key(&mut fk_cascade(
                        "fk_group_domain",
                        (IdentityGroup::Table, IdentityGroup::DomainId),
                        (Domain::Table, Domain::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_group_domain_name",
                    IdentityGroup::Table,
                    [IdentityGroup::DomainId, IdentityGroup::Name],
                )
                .unique()
                .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserGroupMembership::Table)
                    .col(ref_col(UserGroupMembership::UserId))
                    .col(ref_col(UserGroupMembership::GroupId))
                    .primary_key(
                        Index::create()
                            .col(UserGroupMembership::UserId)
                            .col(UserGroupMembership::GroupId),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_ugm_user",
                        (UserGroupMembership::Table, UserGroupMembership::UserId),
                        (User::Table, User::Id),
                    ))
                    .foreign_key(&mut fk_cascade(
                        "fk_ugm_group",
                        (UserGroupMembership::Table, UserGroupMembership::GroupId),
                        (IdentityGroup::Table, IdentityGroup::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_ugm_group",
                UserGroupMembership::Table,
                [UserGroupMembership::GroupId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Role::Table)
                    .col(id_col(Role::Id))
                    .col(name_col(Role::Name))
                    .col(opt_ref_col(Role::DomainId))
                    .col(description_col(Role::Description))
                    .col(json_object_col(backend, Role::Options))
                    .col(timestamp_col(backend, Role::CreatedAt).not_null())
                    .foreign_key(&mut fk_cascade(
                        "fk_role_domain",
                        (Role::Table, Role::DomainId),
                        (Domain::Table, Domain::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("ix_role_name", Role::Table, [Role::Name]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ImpliedRole::Table)
                    .col(ref_col(ImpliedRole::PriorRoleId))
                    .col(ref_col(ImpliedRole::ImpliedRoleId))
                    .primary_key(
                        Index::create()
                            .col(ImpliedRole::PriorRoleId)
                            .col(ImpliedRole::ImpliedRoleId),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_implied_role_prior",
                        (ImpliedRole::Table, ImpliedRole::PriorRoleId),
                        (Role::Table, Role::Id),
                    ))
                    .foreign_key(&mut fk_cascade(
                        "fk_implied_role_implied",
                        (ImpliedRole::Table, ImpliedRole::ImpliedRoleId),
                        (Role::Table, Role::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Assignment::Table)
                    .col(ColumnDef::new(Assignment::Kind).string_len(32).not_null())
                    .col(ref_col(Assignment::ActorId))
                    .col(ref_col(Assignment::TargetId))
                    .col(ref_col(Assignment::RoleId))
                    .col(
                        ColumnDef::new(Assignment::Inherited)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .primary_key(
                        Index::create()
                            .col(Assignment::Kind)
                            .col(Assignment::ActorId)
                            .col(Assignment::TargetId)
                            .col(Assignment::RoleId)
                            .col(Assignment::Inherited),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_assignment_role",
                        (Assignment::Table, Assignment::RoleId),
                        (Role::Table, Role::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_assignment_actor",
                Assignment::Table,
                [Assignment::ActorId],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_assignment_target",
                Assignment::Table,
                [Assignment::TargetId],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_assignment_role",
                Assignment::Table,
                [Assignment::RoleId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Region::Table)
                    .col(
                        ColumnDef::new(Region::Id)
                            .string_len(NAME_LEN)
                            .not_null()
                            .primary_key(),
                    )
                    .col(description_col(Region::Description))
                    .col(
                        ColumnDef::new(Region::ParentRegionId)
                            .string_len(NAME_LEN)
                            .null(),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_region_parent",
                        (Region::Table, Region::ParentRegionId),
                        (Region::Table, Region::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Service::Table)
                    .col(id_col(Service::Id))
                    .col(name_col(Service::Type))
                    .col(ColumnDef::new(Service::Name).string_len(NAME_LEN).null())
                    .col(description_col(Service::Description))
                    .col(enabled_col(Service::Enabled))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Endpoint::Table)
                    .col(id_col(Endpoint::Id))
                    .col(ref_col(Endpoint::ServiceId))
                    .col(ColumnDef::new(Endpoint::Interface).string_len(8).not_null())
                    .col(ColumnDef::new(Endpoint::Url).text().not_null())
                    .col(
                        ColumnDef::new(Endpoint::RegionId)
                            .string_len(NAME_LEN)
                            .null(),
                    )
                    .col(enabled_col(Endpoint::Enabled))
                    .foreign_key(&mut fk_cascade(
                        "fk_endpoint_service",
                        (Endpoint::Table, Endpoint::ServiceId),
                        (Service::Table, Service::Id),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_endpoint_region")
                            .from(Endpoint::Table, Endpoint::RegionId)
                            .to(Region::Table, Region::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_endpoint_service",
                Endpoint::Table,
                [Endpoint::ServiceId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RevocationEvent::Table)
                    .col(
                        ColumnDef::new(RevocationEvent::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(opt_ref_col(RevocationEvent::UserId))
                    .col(opt_ref_col(RevocationEvent::ProjectId))
                    .col(opt_ref_col(RevocationEvent::DomainId))
                    .col(opt_ref_col(RevocationEvent::AuditId))
                    .col(opt_ref_col(RevocationEvent::RoleId))
                    .col(opt_ref_col(RevocationEvent::AppCredId))
                    .col(timestamp_col(backend, RevocationEvent::IssuedBefore).not_null())
                    .col(timestamp_col(backend, RevocationEvent::RevokedAt).not_null())
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_revocation_event_revoked_at",
                RevocationEvent::Table,
                [RevocationEvent::RevokedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationCredential::Table)
                    .col(id_col(ApplicationCredential::Id))
                    .col(name_col(ApplicationCredential::Name))
                    .col(ref_col(ApplicationCredential::UserId))
                    .col(ref_col(ApplicationCredential::ProjectId))
                    .col(description_col(ApplicationCredential::Description))
                    .col(
                        ColumnDef::new(ApplicationCredential::SecretHash)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationCredential::Unrestricted)
                            .boolean()
                            .null(),
                    )
                    .col(timestamp_col(backend, ApplicationCredential::ExpiresAt).null())
                    .col(timestamp_col(backend, ApplicationCredential::CreatedAt).not_null())
                    .foreign_key(&mut fk_cascade(
                        "fk_appcred_user",
                        (ApplicationCredential::Table, ApplicationCredential::UserId),
                        (User::Table, User::Id),
                    ))
                    .foreign_key(&mut fk_cascade(
                        "fk_appcred_project",
                        (
                            ApplicationCredential::Table,
                            ApplicationCredential::ProjectId,
                        ),
                        (Project::Table, Project::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_appcred_user_name",
                    ApplicationCredential::Table,
                    [ApplicationCredential::UserId, ApplicationCredential::Name],
                )
                .unique()
                .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationCredentialRole::Table)
                    .col(ref_col(ApplicationCredentialRole::ApplicationCredentialId))
                    .col(ref_col(ApplicationCredentialRole::RoleId))
                    .primary_key(
                        Index::create()
                            .col(ApplicationCredentialRole::ApplicationCredentialId)
                            .col(ApplicationCredentialRole::RoleId),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_appcred_role_appcred",
                        (
                            ApplicationCredentialRole::Table,
                            ApplicationCredentialRole::ApplicationCredentialId,
                        ),
                        (ApplicationCredential::Table, ApplicationCredential::Id),
                    ))
                    .foreign_key(&mut fk_cascade(
                        "fk_appcred_role_role",
                        (
                            ApplicationCredentialRole::Table,
                            ApplicationCredentialRole::RoleId,
                        ),
                        (Role::Table, Role::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessRule::Table)
                    .col(id_col(AccessRule::Id))
                    .col(ref_col(AccessRule::UserId))
                    .col(
                        ColumnDef::new(AccessRule::Service)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AccessRule::Method).string_len(16).not_null())
                    .col(ColumnDef::new(AccessRule::Path).text().not_null())
                    .col(timestamp_col(backend, AccessRule::CreatedAt).not_null())
                    .foreign_key(&mut fk_cascade(
                        "fk_access_rule_user",
                        (AccessRule::Table, AccessRule::UserId),
                        (User::Table, User::Id),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationCredentialAccessRule::Table)
                    .col(ref_col(
                        ApplicationCredentialAccessRule::ApplicationCredentialId,
                    ))
                    .col(ref_col(ApplicationCredentialAccessRule::AccessRuleId))
                    .primary_key(
                        Index::create()
                            .col(ApplicationCredentialAccessRule::ApplicationCredentialId)
                            .col(ApplicationCredentialAccessRule::AccessRuleId),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_appcred_ar_appcred",
                        (
                            ApplicationCredentialAccessRule::Table,
                            ApplicationCredentialAccessRule::ApplicationCredentialId,
                        ),
                        (ApplicationCredential::Table, ApplicationCredential::Id),
                    ))
                    .foreign_key(&mut fk_cascade(
                        "fk_appcred_ar_rule",
                        (
                            ApplicationCredentialAccessRule::Table,
                            ApplicationCredentialAccessRule::AccessRuleId,
                        ),
                        (AccessRule::Table, AccessRule::Id),
                    ))
                    .take(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables: [DynIden; 17] = [
            ApplicationCredentialAccessRule::Table.into_iden(),
            AccessRule::Table.into_iden(),
            ApplicationCredentialRole::Table.into_iden(),
            ApplicationCredential::Table.into_iden(),
            RevocationEvent::Table.into_iden(),
            Endpoint::Table.into_iden(),
            Service::Table.into_iden(),
            Region::Table.into_iden(),
            Assignment::Table.into_iden(),
            ImpliedRole::Table.into_iden(),
            Role::Table.into_iden(),
            UserGroupMembership::Table.into_iden(),
            IdentityGroup::Table.into_iden(),
            User::Table.into_iden(),
            ProjectTag::Table.into_iden(),
            Project::Table.into_iden(),
            Domain::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}

/// Identifiers of the `domain` table.
#[derive(DeriveIden)]
enum Domain {
    Table,
    Id,
    Name,
    Description,
    Enabled,
    CreatedAt,
}

/// Identifiers of the `project` table.
#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
    Name,
    DomainId,
    ParentId,
    Description,
    Enabled,
    CreatedAt,
}

/// Identifiers of the `project_tag` table.
#[derive(DeriveIden)]
enum ProjectTag {
    Table,
    ProjectId,
    Name,
}

/// Identifiers of the `user` table.
#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Name,
    DomainId,
    Enabled,
    PasswordHash,
    DefaultProjectId,
    Extra,
    PasswordExpiresAt,
    FailedAuthCount,
    LastFailedAuthAt,
    CreatedAt,
}

/// Identifiers of the `identity_group` table.
#[derive(DeriveIden)]
enum IdentityGroup {
    Table,
    Id,
    Name,
    DomainId,
    Description,
    CreatedAt,
}

/// Identifiers of the `user_group_membership` table.
#[derive(DeriveIden)]
enum UserGroupMembership {
    Table,
    UserId,
    GroupId,
}

/// Identifiers of the `role` table.
#[derive(DeriveIden)]
enum Role {
    Table,
    Id,
    Name,
    DomainId,
    Description,
    Options,
    CreatedAt,
}

/// Identifiers of the `implied_role` table.
#[allow(clippy::enum_variant_names)] // `ImpliedRoleId` mirrors the column name.
#[derive(DeriveIden)]
enum ImpliedRole {
    Table,
    PriorRoleId,
    ImpliedRoleId,
}

/// Identifiers of the `assignment` table.
#[derive(DeriveIden)]
enum Assignment {
    Table,
    Kind,
    ActorId,
    TargetId,
    RoleId,
    Inherited,
}

/// Identifiers of the `region` table.
#[derive(DeriveIden)]
enum Region {
    Table,
    Id,
    Description,
    ParentRegionId,
}

/// Identifiers of the `service` table.
#[derive(DeriveIden)]
enum Service {
    Table,
    Id,
    Type,
    Name,
    Description,
    Enabled,
}

/// Identifiers of the `endpoint` table.
#[derive(DeriveIden)]
enum Endpoint {
    Table,
    Id,
    ServiceId,
    Interface,
    Url,
    RegionId,
    Enabled,
}

/// Identifiers of the `revocation_event` table.
#[derive(DeriveIden)]
enum RevocationEvent {
    Table,
    Id,
    UserId,
    ProjectId,
    DomainId,
    AuditId,
    RoleId,
    AppCredId,
    IssuedBefore,
    RevokedAt,
}

/// Identifiers of the `application_credential` table.
#[derive(DeriveIden)]
enum ApplicationCredential {
    Table,
    Id,
    Name,
    UserId,
    ProjectId,
    Description,
    SecretHash,
    Unrestricted,
    ExpiresAt,
    CreatedAt,
}

/// Identifiers of the `application_credential_role` table.
#[derive(DeriveIden)]
enum ApplicationCredentialRole {
    Table,
    ApplicationCredentialId,
    RoleId,
}

/// Identifiers of the `access_rule` table.
#[derive(DeriveIden)]
enum AccessRule {
    Table,
    Id,
    UserId,
    Service,
    Method,
    Path,
    CreatedAt,
}

/// Identifiers of the `application_credential_access_rule` table.
#[derive(DeriveIden)]
enum ApplicationCredentialAccessRule {
    Table,
    ApplicationCredentialId,
    AccessRuleId,
}
