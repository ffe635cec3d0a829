"""Making avatars, offline (``parley avatar init``): a photo's face mesh, the portrait's landmarks and
the 3D head written as a GLB. Nothing here runs during a call."""
