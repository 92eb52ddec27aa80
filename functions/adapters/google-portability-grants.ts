import type { PortabilityGrants } from '../core/ports/portability-grants.js';
import type { GooglePortabilityClient } from './google-portability-client.js';

/** PortabilityGrants on the Data Portability API (`accessType:check`, `authorization:reset`). */
export class GooglePortabilityGrants implements PortabilityGrants {
  constructor(private readonly client: GooglePortabilityClient) {}

  checkAccessType(accessToken: string) {
    return this.client.checkAccessType(accessToken);
  }

  resetAuthorization(accessToken: string) {
    return this.client.reset(accessToken);
  }
}
