//! Client authentication bindings of application credentials: a certificate subject (RFC 8705
//! `tls_client_auth`), a certificate thumbprint (`self_signed_tls_client_auth`) and a public JWK Set
//! (`private_key_jwt`, RFC 7523). All optional, so existing credentials keep authenticating by secret only.

use sea_orm_migration::prelude::*;

/// Adds the binding columns to `application_credential`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApplicationCredential {
    Table,
    TlsClientAuthSubjectDn,
    TlsClientAuthIssuerDn,
    TlsClientAuthX5tS256,
    Jwks,
}

fn columns() -> [(ApplicationCredential, bool); 4] {
    use ApplicationCredential::*;
    // (column, is long text)
    [
        (TlsClientAuthSubjectDn, false),
        (TlsClientAuthIssuerDn, false),
        (TlsClientAuthX5tS256, false),
        (Jwks, true),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for (col, long) in columns() {
            let mut def = ColumnDef::new(col);
            if long {
                def.text();
            } else {
                def.string_len(1024);
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(ApplicationCredential::Table)
                        .add_column(def.null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (col, _) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApplicationCredential::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
