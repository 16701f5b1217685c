"""Cloud SQL for PostgreSQL: private IP only, TLS required, backups with point-in-time recovery, the CIS logging flags,
read replicas (one in another region for disaster recovery), and one application user per database whose generated
password lives only in Secret Manager."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.context import StackContext
from components.database.config import DatabaseArgs
from components.database.settings import SettingsFactory
from components.database.watch import watch_database
from components.observability.config import CloudSqlAlertsArgs
from components.observability.signals import Watched
from components.refs import NO_CMEK, Encryption, NetworkRef
from components.secret import Secret, SecretsArgs


class Database(pulumi.ComponentResource):
    """A PostgreSQL primary reachable only on the VPC's private services range, with TLS required, deletion
    protection at both layers, backups and PITR, read replicas, and per-database users whose passwords are generated
    and stored in Secret Manager (never exported)."""

    connection_name: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    users: dict[str, pulumi.Output[str]]
    password_secrets: dict[str, Secret]
    password_secret_ids: dict[str, pulumi.Output[str]]
    replica_connection_names: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: DatabaseArgs,
        *,
        ctx: StackContext,
        network: NetworkRef,
        secrets: SecretsArgs,
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """With `encryption` (CMEK), the primary takes the `sql` key of its region and each replica the one of its own
        region; the password secrets take Secret Manager's keys."""
        super().__init__("platform:components:Database", name, None, ctx.component(opts))
        self._name = name
        self._args = args
        self._ctx = ctx
        self._encryption = encryption
        # Known before anything exists, so monitoring can name the instances without waiting for them.
        self.instance_name = ctx.naming.physical("pg")
        self.replica_names = {key: ctx.naming.physical("pg", key) for key in args.replicas}
        self._instances(network)
        self.databases = self._databases(name)
        self.password_secrets: dict[str, Secret] = {}
        self.users: dict[str, pulumi.Output[str]] = {}
        for db in args.databases:
            self.users[db], self.password_secrets[db] = self._app_user(name, db, secrets)
        self.iam_users = self._iam_users(name)
        self.connection_name = self.instance.connection_name
        self.private_ip = self.instance.private_ip_address
        self.database_names = list(args.databases)
        self.password_secret_ids = {db: secret.id for db, secret in self.password_secrets.items()}
        self.replica_connection_names = {key: r.connection_name for key, r in self.replicas.items()}
        self.register_outputs(
            {
                "connection_name": self.connection_name,
                "private_ip": self.private_ip,
                "databases": self.database_names,
                "users": self.users,
                "password_secret_ids": self.password_secret_ids,
                "replica_connection_names": self.replica_connection_names,
            }
        )

    def _databases(self, name: str) -> dict[str, gcp.sql.Database]:
        return {
            db: gcp.sql.Database(
                f"{name}-db-{db}",
                name=db,
                instance=self.instance.name,
                charset="UTF8",
                collation="en_US.UTF8",
                # Removing a database from config must not drop its data; a DBA drops it deliberately.
                deletion_policy="ABANDON",
                opts=pulumi.ResourceOptions(parent=self, protect=self._ctx.protect),
            )
            for db in self._args.databases
        }

    def _iam_users(self, name: str) -> dict[str, gcp.sql.User]:
        return {
            email: gcp.sql.User(
                f"{name}-iam-{email}",
                # Cloud SQL names a service account's PostgreSQL role after its email without the domain suffix.
                name=email.removesuffix(".gserviceaccount.com"),
                instance=self.instance.name,
                type="CLOUD_IAM_SERVICE_ACCOUNT",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for email in self._args.iam_service_accounts
        }

    def _instances(self, network: NetworkRef) -> None:
        """The primary and its read replicas, which share every security setting."""
        args, ctx = self._args, self._ctx
        settings = SettingsFactory(
            args, network=network, labels=ctx.labels("database"), deletion_protection=ctx.deletion_protection
        )
        # The disk grows by itself and an office-hours schedule may stop the instance: without ignoring both, the next
        # `pulumi up` would try to shrink the disk back or restart a stopped instance.
        stateful = pulumi.ResourceOptions(
            parent=self, protect=ctx.protect, ignore_changes=["settings.diskSize", "settings.activationPolicy"]
        )
        self.instance = gcp.sql.DatabaseInstance(
            f"{self._name}-primary",
            name=self.instance_name,
            region=ctx.region,
            database_version=args.version,
            encryption_key_name=self._encryption.key("sql", ctx.region),
            deletion_protection=ctx.deletion_protection,
            final_backup_description=(
                "Final backup taken when the instance was deleted" if args.backups.final_backup_retention_days else None
            ),
            settings=settings.primary(),
            # Its network resolves once private services access is peered: the known "no private connection" race.
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(depends_on=ctx.apis.require("sqladmin.googleapis.com"))
            ),
        )
        self.replicas = {
            key: gcp.sql.DatabaseInstance(
                f"{self._name}-replica-{key}",
                name=self.replica_names[key],
                region=replica.region,
                database_version=args.version,
                master_instance_name=self.instance.name,
                instance_type="READ_REPLICA_INSTANCE",
                encryption_key_name=self._encryption.key("sql", replica.region),
                deletion_protection=ctx.deletion_protection,
                settings=settings.replica(replica),
                opts=stateful,
            )
            for key, replica in args.replicas.items()
        }

    def _app_user(self, name: str, db: str, secrets: SecretsArgs) -> tuple[pulumi.Output[str], Secret]:
        """The database's application user, with a generated password that only Secret Manager holds."""
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(
            f"{name}-password-{db}",
            length=32,
            special=True,
            override_special="-_.~",  # URL-safe, so the password fits a connection URI unescaped
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=pulumi.ResourceOptions(parent=self, protect=self._ctx.protect),
        )
        user = gcp.sql.User(
            f"{name}-user-{db}",
            name=self._args.user_of(db),
            instance=self.instance.name,
            type="BUILT_IN",
            password=password.result,
            # PostgreSQL refuses to drop a role that owns objects; leave it to a DBA instead of failing the destroy.
            deletion_policy="ABANDON",
            opts=child,
        )
        secret = Secret(
            f"{name}-secret-{db}",
            secret_id=self._ctx.naming.physical("db", db, "password", max_length=255),
            data=password.result,
            args=secrets,
            ctx=self._ctx,
            owner="database",
            encryption=self._encryption,
            accessors={m: m for m in self._args.databases[db].secret_accessors},
            opts=child,
        )
        return user.name, secret

    def watch(self, thresholds: CloudSqlAlertsArgs) -> Watched:
        return watch_database(
            self._ctx.project, self.instance_name, self.replica_names, self._args.max_connections, thresholds
        )
