// The demo tenant's people. Object ids are fixed so the portal sees the same person every time.
export const TENANT_ID = '5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11';

export const ACCOUNTS = [
  {
    id: 'adele', oid: '0a1b2c3d-0001-4000-8000-000000000001', name: 'Adele Vance',
    upn: 'adele.vance@contoso.test', roles: [], description: 'Employee (reports to Megan Bowen)',
  },
  {
    id: 'megan', oid: '0a1b2c3d-0002-4000-8000-000000000002', name: 'Megan Bowen',
    upn: 'megan.bowen@contoso.test', roles: [], description: "Manager (Adele Vance's manager)",
  },
  {
    id: 'alex', oid: '0a1b2c3d-0003-4000-8000-000000000003', name: 'Alex Wilber',
    upn: 'alex.wilber@contoso.test', roles: [], description: "Resource owner (Megan Bowen's manager)",
  },
  {
    id: 'irvin', oid: '0a1b2c3d-0004-4000-8000-000000000004', name: 'Irvin Sayers',
    upn: 'irvin.sayers@contoso.test', roles: ['Leasegate.Auditor'], description: 'Auditor',
  },
  {
    id: 'nestor', oid: '0a1b2c3d-0005-4000-8000-000000000005', name: 'Nestor Wilke',
    upn: 'nestor.wilke@contoso.test', roles: ['Leasegate.Admin'], description: 'Portal administrator',
  },
  {
    id: 'diego', oid: '0a1b2c3d-0006-4000-8000-000000000006', name: 'Diego Siciliani',
    upn: 'diego.siciliani@contoso.test', roles: ['Leasegate.Admin'], description: 'Second administrator (four eyes)',
  },
];
