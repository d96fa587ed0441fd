
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'azs-backup' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'azs-backup'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'azs-backup' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('configure', 'configure', [CompletionResultType]::ParameterValue, 'Create or change settings (Set-AzsBackupConfiguration; the Configuration blade)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show settings, schedule, last backup, capacity and health (Get-AzsBackupConfiguration; Essentials)')
            [CompletionResult]::new('start-backup', 'start-backup', [CompletionResultType]::ParameterValue, 'Make a backup now (Start-AzsBackup; Backup now). Does not move the next scheduled time')
            [CompletionResult]::new('enable-auto', 'enable-auto', [CompletionResultType]::ParameterValue, 'Turn automatic backups on (Enable Automatic Backups button)')
            [CompletionResult]::new('disable-auto', 'disable-auto', [CompletionResultType]::ParameterValue, 'Pause automatic backups, keeping the schedule (Disable Automatic Backups)')
            [CompletionResult]::new('tick', 'tick', [CompletionResultType]::ParameterValue, 'Make a backup if one is due, then prune (the built-in scheduler)')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete old backups (Invoke-AzsPruneBackupLocationExternalStore)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List backups on the target, newest first (Get-AzsBackup)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one backup (Get-AzsBackup -Name ID)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a backup: files and checksums, and with the key every chunk (the backup validation tool)')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Decrypt and extract a backup into a directory (Restore-AzsBackup)')
            [CompletionResult]::new('new-cert', 'new-cert', [CompletionResultType]::ParameterValue, 'Write a self-signed RSA certificate for backups (New-SelfSignedCertificate + Export-Certificate)')
            [CompletionResult]::new('new-encryption-key', 'new-encryption-key', [CompletionResultType]::ParameterValue, 'Print a new legacy encryption key (New-AzsEncryptionKeyBase64)')
            [CompletionResult]::new('rotate-cert', 'rotate-cert', [CompletionResultType]::ParameterValue, 'New backups use a new certificate; old ones keep theirs (uploading a new .cer)')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Remove settings, secrets and state (Clear-AzsBackupConfiguration)')
            [CompletionResult]::new('unprotect', 'unprotect', [CompletionResultType]::ParameterValue, 'Check, decrypt and extract Azure Stack Hub backups: one snapshot, or a whole backup from the share (Unprotect-AzsBackup)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page, or write every page into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'azs-backup;configure' {
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Backup location: \\host\share\folder, smb://host:port/share/folder, or a local directory')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Share user: DOMAIN\user or user')
            [CompletionResult]::new('--encryption-cert-path', '--encryption-cert-path', [CompletionResultType]::ParameterName, 'Public-only certificate (.cer, DER or PEM) that backups are encrypted for')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Public-only certificate (.cer, DER or PEM) that backups are encrypted for')
            [CompletionResult]::new('--recovery-cert-path', '--recovery-cert-path', [CompletionResultType]::ParameterName, 'Recovery certificate (public-only .cer, DER or PEM): backups are also encrypted for it, so its private key restores them too (repeatable; kept until removed)')
            [CompletionResult]::new('--remove-recovery-cert', '--remove-recovery-cert', [CompletionResultType]::ParameterName, 'Stop encrypting new backups for this recovery certificate (repeatable; backups already made still open with it)')
            [CompletionResult]::new('--encryption-key', '--encryption-key', [CompletionResultType]::ParameterName, 'Legacy encryption key (backward-compatibility mode only; prefer --encryption-key-stdin)')
            [CompletionResult]::new('--backup-frequency-in-hours', '--backup-frequency-in-hours', [CompletionResultType]::ParameterName, 'Hours between automatic backups (4..=12, default 12)')
            [CompletionResult]::new('--frequency', '--frequency', [CompletionResultType]::ParameterName, 'Hours between automatic backups (4..=12, default 12)')
            [CompletionResult]::new('--backup-retention-period-in-days', '--backup-retention-period-in-days', [CompletionResultType]::ParameterName, 'Days backups are kept (2..=14, default 7)')
            [CompletionResult]::new('--retention', '--retention', [CompletionResultType]::ParameterName, 'Days backups are kept (2..=14, default 7)')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'A source to back up, NAME=DIR (repeatable; adds it or changes its directory)')
            [CompletionResult]::new('--remove-source', '--remove-source', [CompletionResultType]::ParameterName, 'Remove a source by name (repeatable)')
            [CompletionResult]::new('--verify-after-write', '--verify-after-write', [CompletionResultType]::ParameterName, 'After each archive is written, read it back from the target and compare its SHA-256 (catches shares that truncate or corrupt silently; costs one extra read of every archive)')
            [CompletionResult]::new('--is-backup-scheduler-enabled', '--is-backup-scheduler-enabled', [CompletionResultType]::ParameterName, 'Turn automatic backups on or off, as enable-auto / disable-auto (Set-AzsBackupConfiguration -IsBackupSchedulerEnabled)')
            [CompletionResult]::new('--notify-url', '--notify-url', [CompletionResultType]::ParameterName, 'Ping this URL when a backup starts (URL/start), succeeds (URL) or fails (URL/fail), as healthchecks.io and compatible monitors expect; '''' removes it. Only scheme and host are ever shown (the path may hold a ping key)')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'After every run, write Prometheus metrics to this file (for node_exporter''s textfile collector), atomically; '''' removes it')
            [CompletionResult]::new('--compression-level', '--compression-level', [CompletionResultType]::ParameterName, 'zstd level of new archives (1..=19, default 1; higher: smaller and slower)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the share password from the first line of stdin')
            [CompletionResult]::new('--encryption-key-stdin', '--encryption-key-stdin', [CompletionResultType]::ParameterName, 'Read the legacy encryption key from stdin')
            [CompletionResult]::new('--no-verify', '--no-verify', [CompletionResultType]::ParameterName, 'Do not prove the target reachable and writable')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Confirm changes that delete backups (reducing retention) without asking')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Confirm changes that delete backups (reducing retention) without asking')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Exit 11 when any health warning is present (for monitoring and smoke tests)')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Do not contact the target (no capacity, no reachability check)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;start-backup' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;enable-auto' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;disable-auto' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;tick' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;prune' {
            [CompletionResult]::new('--operation-type', '--operation-type', [CompletionResultType]::ParameterName, 'Default deletes, DryRun only lists (as the cmdlet''s -OperationType)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'List the paths that would be deleted; delete nothing (= --operation-type DryRun)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;list' {
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)')
            [CompletionResult]::new('--top', '--top', [CompletionResultType]::ParameterName, 'Show at most N backups (after --skip), newest first (Get-AzsBackup -Top)')
            [CompletionResult]::new('--skip', '--skip', [CompletionResultType]::ParameterName, 'Leave out the N newest backups (Get-AzsBackup -Skip)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also list folders of interrupted or failed runs')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;show' {
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;verify' {
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key: PKCS#8/PKCS#1 .pem, or .pfx/.p12 (password from a prompt, --key-password-stdin or AZS_BACKUP_KEY_PASSWORD)')
            [CompletionResult]::new('--decryption-cert-path', '--decryption-cert-path', [CompletionResultType]::ParameterName, 'Private key: PKCS#8/PKCS#1 .pem, or .pfx/.p12 (password from a prompt, --key-password-stdin or AZS_BACKUP_KEY_PASSWORD)')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--key-password-stdin', '--key-password-stdin', [CompletionResultType]::ParameterName, 'Read the .pfx password from the first line of stdin')
            [CompletionResult]::new('--decryption-cert-password-stdin', '--decryption-cert-password-stdin', [CompletionResultType]::ParameterName, 'Read the .pfx password from the first line of stdin')
            [CompletionResult]::new('--encryption-key-stdin', '--encryption-key-stdin', [CompletionResultType]::ParameterName, 'Read a legacy encryption key from stdin (backups made in backward-compatibility mode)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;restore' {
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key: PKCS#8/PKCS#1 .pem, or .pfx/.p12 (password from a prompt, --key-password-stdin or AZS_BACKUP_KEY_PASSWORD)')
            [CompletionResult]::new('--decryption-cert-path', '--decryption-cert-path', [CompletionResultType]::ParameterName, 'Private key: PKCS#8/PKCS#1 .pem, or .pfx/.p12 (password from a prompt, --key-password-stdin or AZS_BACKUP_KEY_PASSWORD)')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Directory to restore into (created if missing; must be empty unless --force)')
            [CompletionResult]::new('--destination', '--destination', [CompletionResultType]::ParameterName, 'Directory to restore into (created if missing; must be empty unless --force)')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Restore only this source')
            [CompletionResult]::new('--role-name', '--role-name', [CompletionResultType]::ParameterName, 'Restore only this source')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--key-password-stdin', '--key-password-stdin', [CompletionResultType]::ParameterName, 'Read the .pfx password from the first line of stdin')
            [CompletionResult]::new('--decryption-cert-password-stdin', '--decryption-cert-password-stdin', [CompletionResultType]::ParameterName, 'Read the .pfx password from the first line of stdin')
            [CompletionResult]::new('--encryption-key-stdin', '--encryption-key-stdin', [CompletionResultType]::ParameterName, 'Read a legacy encryption key from stdin (backups made in backward-compatibility mode)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Restore into a non-empty directory, replacing the sources'' folders')
            [CompletionResult]::new('--preserve-special-bits', '--preserve-special-bits', [CompletionResultType]::ParameterName, 'Restore setuid, setgid and sticky bits (masked by default: restored files belong to the user who restores, often root)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;new-cert' {
            [CompletionResult]::new('--dns-name', '--dns-name', [CompletionResultType]::ParameterName, 'DNS name for the certificate''s subject and SAN')
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Directory to write the files into')
            [CompletionResult]::new('--bits', '--bits', [CompletionResultType]::ParameterName, 'RSA key size')
            [CompletionResult]::new('--valid-days', '--valid-days', [CompletionResultType]::ParameterName, 'Days the certificate is valid')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--no-pfx', '--no-pfx', [CompletionResultType]::ParameterName, 'Do not write a .pfx (only the .cer and the PKCS#8 .pem)')
            [CompletionResult]::new('--pfx-password-stdin', '--pfx-password-stdin', [CompletionResultType]::ParameterName, 'Read the .pfx password from the first line of stdin')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;new-encryption-key' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;rotate-cert' {
            [CompletionResult]::new('--encryption-cert-path', '--encryption-cert-path', [CompletionResultType]::ParameterName, 'The new public-only certificate (.cer, DER or PEM) that new backups are encrypted for')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'The new public-only certificate (.cer, DER or PEM) that new backups are encrypted for')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;clear' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (for scripts)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (for scripts)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;unprotect' {
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Read Azure Stack backups from this share: a folder, a mounted share, a UNC path or an smb:// URL holding MASBackup/progressivebackup/ (needs --backup-id or --list)')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)')
            [CompletionResult]::new('--backup-id', '--backup-id', [CompletionResultType]::ParameterName, 'With --from: the backup to check or extract, with every snapshot it needs (whole progressive chains)')
            [CompletionResult]::new('--cert-path', '--cert-path', [CompletionResultType]::ParameterName, 'The .pfx/.p12 with the private key and its certificate (password from a prompt, --cert-password-stdin or AZS_BACKUP_KEY_PASSWORD)')
            [CompletionResult]::new('--certificate', '--certificate', [CompletionResultType]::ParameterName, 'The .pfx/.p12 with the private key and its certificate (password from a prompt, --cert-password-stdin or AZS_BACKUP_KEY_PASSWORD)')
            [CompletionResult]::new('--destination', '--destination', [CompletionResultType]::ParameterName, 'Directory to extract into (created if missing; must be empty unless --force); with --backup-id each snapshot goes to DIR/<repository>/<snapshot file name>/')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'With --from: list the Azure Stack backups there, newest first, and whether each chain is complete')
            [CompletionResult]::new('--cert-password-stdin', '--cert-password-stdin', [CompletionResultType]::ParameterName, 'Read the .pfx password from the first line of stdin')
            [CompletionResult]::new('--certificate-passphrase-stdin', '--certificate-passphrase-stdin', [CompletionResultType]::ParameterName, 'Read the .pfx password from the first line of stdin')
            [CompletionResult]::new('--verify-only', '--verify-only', [CompletionResultType]::ParameterName, 'SNAPSHOT.zip only: check the thumbprint and the HMAC-SHA512; write nothing')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'With --backup-id: every check (thumbprint, key unwrap, HMAC-SHA512, sidecar status, zip decoded entry by entry) on every snapshot; keep nothing (each decrypted zip is decoded from an unlinked temporary file in TMPDIR)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Extract into a non-empty directory, replacing the entries (with --backup-id: the snapshot folders) already there')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;man' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write azs-backup.1 and one page per subcommand into this directory')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (errors as JSON on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print one line per step')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'azs-backup;help' {
            [CompletionResult]::new('configure', 'configure', [CompletionResultType]::ParameterValue, 'Create or change settings (Set-AzsBackupConfiguration; the Configuration blade)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show settings, schedule, last backup, capacity and health (Get-AzsBackupConfiguration; Essentials)')
            [CompletionResult]::new('start-backup', 'start-backup', [CompletionResultType]::ParameterValue, 'Make a backup now (Start-AzsBackup; Backup now). Does not move the next scheduled time')
            [CompletionResult]::new('enable-auto', 'enable-auto', [CompletionResultType]::ParameterValue, 'Turn automatic backups on (Enable Automatic Backups button)')
            [CompletionResult]::new('disable-auto', 'disable-auto', [CompletionResultType]::ParameterValue, 'Pause automatic backups, keeping the schedule (Disable Automatic Backups)')
            [CompletionResult]::new('tick', 'tick', [CompletionResultType]::ParameterValue, 'Make a backup if one is due, then prune (the built-in scheduler)')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete old backups (Invoke-AzsPruneBackupLocationExternalStore)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List backups on the target, newest first (Get-AzsBackup)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one backup (Get-AzsBackup -Name ID)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a backup: files and checksums, and with the key every chunk (the backup validation tool)')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Decrypt and extract a backup into a directory (Restore-AzsBackup)')
            [CompletionResult]::new('new-cert', 'new-cert', [CompletionResultType]::ParameterValue, 'Write a self-signed RSA certificate for backups (New-SelfSignedCertificate + Export-Certificate)')
            [CompletionResult]::new('new-encryption-key', 'new-encryption-key', [CompletionResultType]::ParameterValue, 'Print a new legacy encryption key (New-AzsEncryptionKeyBase64)')
            [CompletionResult]::new('rotate-cert', 'rotate-cert', [CompletionResultType]::ParameterValue, 'New backups use a new certificate; old ones keep theirs (uploading a new .cer)')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Remove settings, secrets and state (Clear-AzsBackupConfiguration)')
            [CompletionResult]::new('unprotect', 'unprotect', [CompletionResultType]::ParameterValue, 'Check, decrypt and extract Azure Stack Hub backups: one snapshot, or a whole backup from the share (Unprotect-AzsBackup)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page, or write every page into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'azs-backup;help;configure' {
            break
        }
        'azs-backup;help;status' {
            break
        }
        'azs-backup;help;start-backup' {
            break
        }
        'azs-backup;help;enable-auto' {
            break
        }
        'azs-backup;help;disable-auto' {
            break
        }
        'azs-backup;help;tick' {
            break
        }
        'azs-backup;help;prune' {
            break
        }
        'azs-backup;help;list' {
            break
        }
        'azs-backup;help;show' {
            break
        }
        'azs-backup;help;verify' {
            break
        }
        'azs-backup;help;restore' {
            break
        }
        'azs-backup;help;new-cert' {
            break
        }
        'azs-backup;help;new-encryption-key' {
            break
        }
        'azs-backup;help;rotate-cert' {
            break
        }
        'azs-backup;help;clear' {
            break
        }
        'azs-backup;help;unprotect' {
            break
        }
        'azs-backup;help;completions' {
            break
        }
        'azs-backup;help;man' {
            break
        }
        'azs-backup;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
