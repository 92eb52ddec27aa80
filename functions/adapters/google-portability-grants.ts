import type { PortabilityGrants } from '../core/ports/portability-grants.js';
import type { GooglePortabilityClient } from './google-portability-client.js';

/** PortabilityGrants on the Data Portability API (`accessType:check`). */
export class GooglePortabilityGrants implements PortabilityGrants {
  constructor(private readonly client: GooglePortabilityClient) {}

  checkAccessType(accessToken: string) {
    return this.client.checkAccessType(accessToken);
  }
}
