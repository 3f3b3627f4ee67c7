/**
 * Who lives on the simulated target host. Whether an account exists decides how sshd and
 * Windows report a failure ("Failed password for invalid user X" / SubStatus 0xc0000064),
 * so scenarios pick names from a profile and the profile says which ones are real.
 */
export interface AccountProfile {
  readonly platform: 'linux' | 'windows';
  /** accounts that exist on the target */
  readonly existing: ReadonlySet<string>;
  /** names brute-force tools hammer, most popular first (drawn with a skew towards the head) */
  readonly bruteForceTargets: readonly string[];
  /** long tail of guessed names for spraying / user enumeration; mostly not existing */
  readonly sprayList: readonly string[];
  /** people and service accounts that log in normally */
  readonly legitimateUsers: readonly string[];
}

/**
 * Names from the loghub SSH_2k.log corpus (top failed-password users: root, admin, support,
 * oracle, uucp, test; invalid users such as webmaster, test9, chen) and the seed's TARGET_USERS.
 */
export const LINUX_ACCOUNTS: AccountProfile = {
  platform: 'linux',
  existing: new Set(['root', 'admin', 'support', 'oracle', 'uucp', 'ubuntu', 'deploy', 'jdoe', 'service_account', 'alice', 'bob', 'carol', 'backup']),
  bruteForceTargets: ['root', 'root', 'root', 'admin', 'support', 'oracle', 'uucp', 'test'],
  sprayList: [
    'admin', 'test', 'test9', 'webmaster', 'chen', 'user', 'guest', 'ftpuser', 'postgres', 'ubuntu', 'pi', 'git',
    'mysql', 'oracle', 'nagios', 'jenkins', 'deploy', 'support', 'ftp', 'www-data', 'hadoop', 'tomcat', 'student',
    'teamspeak', 'minecraft', 'ts3', 'ansible', 'vagrant', 'centos', 'ec2-user', 'zabbix', 'redis', 'elastic',
    'odoo', 'steam', 'uucp', 'operator', 'backup', 'service_account', 'jdoe', 'ubnt', 'usuario', 'administrator',
  ],
  legitimateUsers: ['alice', 'bob', 'carol', 'deploy', 'jdoe', 'backup'],
};

/** Names from the Windows 4625 corpus (Administrator brute force) and common spray lists. */
export const WINDOWS_ACCOUNTS: AccountProfile = {
  platform: 'windows',
  existing: new Set(['Administrator', 'admin', 'svc_sql', 'svc_backup', 'jdoe', 'alice', 'bob', 'carol', 'helpdesk']),
  bruteForceTargets: ['Administrator', 'Administrator', 'Administrator', 'admin', 'Guest', 'test'],
  sprayList: [
    'Administrator', 'admin', 'Guest', 'test', 'user', 'scanner', 'backup', 'svc_backup', 'svc_sql', 'sql', 'sa',
    'helpdesk', 'support', 'reception', 'training', 'it', 'office', 'kiosk', 'demo', 'temp', 'user1', 'ftp',
    'jdoe', 'alice', 'bob', 'carol', 'server', 'web', 'audit', 'owner',
  ],
  legitimateUsers: ['alice', 'bob', 'carol', 'jdoe', 'svc_backup', 'helpdesk'],
};
